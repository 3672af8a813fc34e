-- Question: where do link visits come from? Visits per club and source type over the
-- club's last 30 loaded days, with each source type's share of the club's visits.
--
-- From the source_type aggregation of fct_links_visits_history; '(null)' is a visit
-- without a source type. A missing row means 0 visits.

with visits as (

    select
        loyalty_club_id,
        bucket_date,
        dimension_value as source_type,
        visits
    from {{ ref('fct_links_visits_history') }}
    where aggregation = 'source_type'

),

club_windows as (

    select
        loyalty_club_id,
        max(bucket_date) - 29 as first_day
    from visits
    group by loyalty_club_id

),

per_source as (

    select
        visits.loyalty_club_id,
        visits.source_type,
        sum(visits.visits) as visits
    from visits
    inner join club_windows
        on
            visits.loyalty_club_id = club_windows.loyalty_club_id
            and visits.bucket_date >= club_windows.first_day
    group by visits.loyalty_club_id, visits.source_type

)

select
    loyalty_club_id,
    source_type,
    visits,
    visits::double precision
    / nullif(sum(visits) over (partition by loyalty_club_id), 0) as share_of_club_visits
from per_source
order by loyalty_club_id asc, visits desc, source_type asc
