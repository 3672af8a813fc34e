{%- set event_types = [
    'new', 'transmitted', 'transiently_failed', 'delivered',
    'opened', 'opened_event', 'failed', 'delivery_errored'
] -%}

with channel_stats as (

    select * from {{ ref('fct_sendings_stats') }}
    where aggregation = 'channel'

),

pivoted as (

    select
        stat_date,
        loyalty_club_id,
        dimension_value as channel,
        {%- for event_type in event_types %}
        coalesce(
            sum(events) filter (where event_type = '{{ event_type }}'), 0
        )::bigint as {{ event_type }},
        {%- endfor %}
        coalesce(
            sum(events) filter (
                where event_type not in (
                    {%- for event_type in event_types %}
                    '{{ event_type }}'{% if not loop.last %},{% endif %}
                    {%- endfor %}
                )
            ),
            0
        )::bigint as other_events
    from channel_stats
    group by stat_date, loyalty_club_id, dimension_value

),

final as (

    select
        *,
        delivered::double precision / nullif(transmitted, 0) as delivery_rate,
        opened::double precision / nullif(delivered, 0) as open_rate
    from pivoted

)

select * from final
