{#
    One row per calendar day: the time spine dbt's semantic layer joins metrics to
    (required by MetricFlow; see _marts__semantic.yml). BI tools may use it as a calendar
    to turn missing days into zeros.
#}
select day_date::date as date_day
from generate_series('2020-01-01'::date, '2040-12-31'::date, interval '1 day') as spine (day_date)
