{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        pre_hook="{{ placewise_delete_changed_days('sendings_stats', 'statistics', 'stat_date') }}",
        indexes=[{'columns': ['stat_date']}]
    )
}}

{%- set event_types = [
    'new', 'transmitted', 'transiently_failed', 'delivered',
    'opened', 'opened_event', 'failed', 'delivery_errored'
] -%}

-- Rebuilt per club-local day whose partitions changed (macros/changed_days.sql).
with days as (

    {{ placewise_days_to_build('sendings_stats', 'statistics', 'stat_date') }}

),

club_partitions as (

    {{ placewise_club_partitions_of('sendings_stats', 'statistics', 'days') }}

),

channel_stats as (

    {{ placewise_club_facts_in(
        ref('fct_sendings_stats'), 'club_partitions', 'stat_date', 'channel'
    ) }}

),

fingerprints as (

    {{ placewise_read_fingerprints(
        'sendings_stats', 'statistics', 'days', ref('fct_sendings_stats'), 'stat_date',
        source('placewise_raw', 'sendings_stats'), 'stat_date'
    ) }}

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
    group by 1, 2, 3

),

final as (

    select
        pivoted.*,
        pivoted.delivered::double precision / nullif(pivoted.transmitted, 0) as delivery_rate,
        pivoted.opened::double precision / nullif(pivoted.delivered, 0) as open_rate,
        fingerprints.fingerprint as _partitions_fingerprint
    from pivoted
    inner join fingerprints on pivoted.stat_date = fingerprints.day

)

select * from final
