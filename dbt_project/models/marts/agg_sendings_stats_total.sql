{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        pre_hook="{{ placewise_delete_changed_days('sendings_stats', 'statistics', 'stat_date') }}",
        indexes=[{'columns': ['stat_date']}]
    )
}}

-- Rebuilt per club-local day: a changed partition of one club changes that day's total of
-- every club (macros/changed_days.sql).
with days as (

    {{ placewise_days_to_build('sendings_stats', 'statistics', 'stat_date') }}

),

club_partitions as (

    {{ placewise_club_partitions_of('sendings_stats', 'statistics', 'days') }}

),

club_stats as (

    {{ placewise_club_facts_in(ref('fct_sendings_stats'), 'club_partitions', 'stat_date') }}

),

fingerprints as (

    {{ placewise_read_fingerprints(
        'sendings_stats', 'statistics', 'days', ref('fct_sendings_stats'), 'stat_date',
        source('placewise_raw', 'sendings_stats'), 'stat_date'
    ) }}

),

totals as (

    select
        stat_date,
        case
            when aggregation = 'none' then 'total'
            else 'total_' || aggregation
        end as aggregation,
        dimension_value,
        event_type,
        sum(events)::bigint as events,
        count(distinct loyalty_club_id)::integer as clubs_count
    from club_stats
    group by 1, 2, 3, 4

),

final as (

    select
        totals.*,
        fingerprints.fingerprint as _partitions_fingerprint
    from totals
    inner join fingerprints on totals.stat_date = fingerprints.day

)

select * from final
