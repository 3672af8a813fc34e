{#
    fct_sendings_stats by reporting_id agrees with the sendings records: per (club,
    reporting_id, event_type) the events over all synced days equal the sum of the
    sendings' <event_type>_count. Only comparable where every event of the sendings falls
    in synced days: reporting_ids whose sendings are all closed (history_to not null), whose
    1d history starts on/after the club's first synced day and ends before its last synced
    day, in clubs whose reporting_id partitions cover every day in between.
#}
{% set event_types = [
    'new', 'transmitted', 'transiently_failed', 'delivered',
    'opened', 'opened_event', 'failed', 'delivery_errored'
] %}

with clubs as (

    select * from {{ ref('dim_loyalty_clubs') }}

),

reporting_days as (

    select
        coalesce(loyalty_club_id, split_part(scope, ':', 2)::bigint) as loyalty_club_id,
        min(partition_date) as first_day,
        max(partition_date) as last_day,
        count(distinct partition_date) as synced_days
    from {{ source('placewise_ops', 'loaded_partitions') }}
    where
        report = 'sendings_stats'
        and scope like 'club:%'
        and aggregation = 'reporting_id'
    group by 1

),

sendings as (

    select
        sendings.*,
        coalesce(sendings.reporting_id::text, '(null)') as dimension_value,
        (sendings.history_from at time zone coalesce(clubs.timezone, 'UTC'))::date
            as history_from_day,
        (sendings.history_to at time zone coalesce(clubs.timezone, 'UTC'))::date
            as history_to_day,
        reporting_days.first_day,
        reporting_days.last_day,
        reporting_days.synced_days = reporting_days.last_day - reporting_days.first_day + 1
            as contiguous
    from {{ ref('dim_sendings') }} as sendings
    inner join clubs on sendings.loyalty_club_id = clubs.loyalty_club_id
    inner join reporting_days on sendings.loyalty_club_id = reporting_days.loyalty_club_id

),

comparable as (

    select
        loyalty_club_id,
        dimension_value
    from sendings
    group by 1, 2
    having bool_and(
        contiguous
        and history_to is not null
        and history_from_day >= first_day
        and history_to_day < last_day
    )

),

expected as (

    {% for event_type in event_types %}
    select
        sendings.loyalty_club_id,
        sendings.dimension_value,
        '{{ event_type }}' as event_type,
        sum(sendings.{{ event_type }}_count) as expected_events
    from sendings
    inner join comparable
        on
            sendings.loyalty_club_id = comparable.loyalty_club_id
            and sendings.dimension_value = comparable.dimension_value
    group by 1, 2
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

actual as (

    select
        loyalty_club_id,
        dimension_value,
        event_type,
        sum(events) as actual_events
    from {{ ref('fct_sendings_stats') }}
    where aggregation = 'reporting_id'
    group by 1, 2, 3

)

select
    expected.*,
    coalesce(actual.actual_events, 0) as actual_events
from expected
left join actual
    on
        expected.loyalty_club_id = actual.loyalty_club_id
        and expected.dimension_value = actual.dimension_value
        and expected.event_type = actual.event_type
where coalesce(actual.actual_events, 0) <> coalesce(expected.expected_events, 0)
