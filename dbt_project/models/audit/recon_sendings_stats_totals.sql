{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        pre_hook="{{ placewise_delete_changed_days(
            'sendings_stats', 'statistics', 'stat_date'
        ) }}",
        indexes=[{'columns': ['stat_date']}]
    )
}}

-- Rebuilt per club-local day whose partitions (cross-club or any club) changed
-- (macros/changed_days.sql). A club day no cross-club slice covers gets 'not_checked' rows.
with days as (

    {{ placewise_days_to_build('sendings_stats', 'statistics', 'stat_date') }}

),

fingerprints as (

    {{ placewise_read_fingerprints(
        'sendings_stats', 'statistics', 'days', ref('fct_sendings_stats'), 'stat_date',
        source('placewise_raw', 'sendings_stats'), 'stat_date'
    ) }}

),

tenants_partitions as (

    -- Tenants-export days currently loaded: the API's own cross-club totals.
    select
        lp.scope as tenants_scope,
        lp.partition_date as stat_date,
        lp.aggregation as api_aggregation,
        lp.slice_id as tenants_slice_id,
        slices.club_ids,
        -- the as-of of an answer: its Date header, else the request time (date_header=absent)
        coalesce(slices.as_of, slices.server_date) as tenants_server_date,
        coalesce(slices.as_of_source, 'date_header') as tenants_as_of_source,
        case
            when lp.aggregation = 'none' then 'total'
            else lp.aggregation
        end as aggregation,
        case
            when lp.aggregation = 'none' then 'none'
            else substr(lp.aggregation, length('total_') + 1)
        end as club_aggregation
    from {{ source('placewise_ops', 'loaded_partitions') }} as lp
    inner join days on lp.partition_date = days.day
    inner join {{ source('placewise_ops', 'slices') }} as slices
        on lp.slice_id = slices.slice_id
    where
        lp.report = 'sendings_stats'
        and lp.scope like 'clubs:%'
        and (lp.aggregation = 'none' or lp.aggregation like 'total\_%')

),

tenants_series as (

    select
        _slice_id,
        _scope,
        aggregation,
        stat_date,
        {{ placewise_dimension_value({
            'total_service_type': 'service_type',
            'total_campaign_id': 'campaign_id',
            'total_channel': 'channel',
            'total_reporting_id': 'reporting_id',
        }) }} as dimension_value,
        event_type,
        events
    from {{ ref('stg_placewise__sendings_stats') }}
    where
        _scope like 'clubs:%'
        and _slice_id in (select tp.tenants_slice_id from tenants_partitions as tp)

),

api_totals as (

    -- For 'total' the API's figure is its 'none' series summed over the clubs.
    select
        tp.tenants_scope,
        tp.stat_date,
        tp.aggregation,
        ts.dimension_value,
        ts.event_type,
        sum(ts.events)::bigint as api_events
    from tenants_partitions as tp
    inner join tenants_series as ts
        on
            tp.tenants_slice_id = ts._slice_id
            and tp.tenants_scope = ts._scope
            and tp.api_aggregation = ts.aggregation
            and tp.stat_date = ts.stat_date
    group by 1, 2, 3, 4, 5

),

rebuilt_totals as (

    select
        tp.tenants_scope,
        tp.stat_date,
        tp.aggregation,
        fct.dimension_value,
        fct.event_type,
        sum(fct.events)::bigint as rebuilt_events
    from tenants_partitions as tp
    inner join {{ ref('fct_sendings_stats') }} as fct
        on
            tp.stat_date = fct.stat_date
            and tp.club_aggregation = fct.aggregation
            and fct.loyalty_club_id = any(tp.club_ids)
    group by 1, 2, 3, 4, 5

),

club_partitions as (

    -- The club slices behind the rebuilt figure: their count and earliest as-of.
    select
        tp.tenants_scope,
        tp.stat_date,
        tp.aggregation,
        count(*)::integer as club_partitions,
        min(coalesce(slices.as_of, slices.server_date)) as club_server_date,
        bool_or(coalesce(slices.as_of_source, 'date_header') = 'request_time')
            as club_as_of_from_request_time
    from tenants_partitions as tp
    inner join {{ source('placewise_ops', 'loaded_partitions') }} as lp
        on
            lp.report = 'sendings_stats'
            and lp.scope like 'club:%'
            and tp.club_aggregation = lp.aggregation
            and tp.stat_date = lp.partition_date
            and coalesce(lp.loyalty_club_id, split_part(lp.scope, ':', 2)::bigint)
            = any(tp.club_ids)
    inner join {{ source('placewise_ops', 'slices') }} as slices
        on lp.slice_id = slices.slice_id
    group by 1, 2, 3

),

compared as (

    select
        coalesce(api.tenants_scope, rebuilt.tenants_scope) as tenants_scope,
        coalesce(api.stat_date, rebuilt.stat_date) as stat_date,
        coalesce(api.aggregation, rebuilt.aggregation) as aggregation,
        coalesce(api.dimension_value, rebuilt.dimension_value) as dimension_value,
        coalesce(api.event_type, rebuilt.event_type) as event_type,
        coalesce(rebuilt.rebuilt_events, 0) as rebuilt_events,
        coalesce(api.api_events, 0) as api_events
    from api_totals as api
    full outer join rebuilt_totals as rebuilt
        on
            api.tenants_scope = rebuilt.tenants_scope
            and api.stat_date = rebuilt.stat_date
            and api.aggregation = rebuilt.aggregation
            and api.dimension_value = rebuilt.dimension_value
            and api.event_type = rebuilt.event_type

),

final as (

    select
        compared.stat_date,
        compared.aggregation,
        compared.dimension_value,
        compared.event_type,
        compared.tenants_scope,
        tp.club_ids,
        compared.rebuilt_events,
        compared.api_events,
        compared.rebuilt_events - compared.api_events as difference,
        cardinality(tp.club_ids) - coalesce(cp.club_partitions, 0) as club_partitions_missing,
        least(tp.tenants_server_date, cp.club_server_date) as api_as_of,
        case
            when
                tp.tenants_as_of_source = 'request_time'
                or coalesce(cp.club_as_of_from_request_time, false)
                then 'request_time'
            else 'date_header'
        end as api_as_of_source,
        coalesce(
            least(tp.tenants_server_date, cp.club_server_date)
            >= (compared.stat_date + 1 + {{ var('settle_days', 7) }})::timestamp
            at time zone 'Etc/GMT+12',
            false
        ) as is_settled,
        fingerprints.fingerprint as _partitions_fingerprint
    from compared
    inner join fingerprints on compared.stat_date = fingerprints.day
    inner join tenants_partitions as tp
        on
            compared.tenants_scope = tp.tenants_scope
            and compared.stat_date = tp.stat_date
            and compared.aggregation = tp.aggregation
    left join club_partitions as cp
        on
            compared.tenants_scope = cp.tenants_scope
            and compared.stat_date = cp.stat_date
            and compared.aggregation = cp.aggregation

),

not_checked as (

    -- Club days that no cross-club slice covers (the API serves no cross-club totals, or the
    -- tenants step did not run): reported as not checked, never as differences.
    select
        lp.partition_date as stat_date,
        case
            when lp.aggregation = 'none' then 'total'
            else 'total_' || lp.aggregation
        end as aggregation,
        '(all)' as dimension_value,
        '(all)' as event_type,
        lp.scope as tenants_scope,
        array[coalesce(lp.loyalty_club_id, split_part(lp.scope, ':', 2)::bigint)] as club_ids,
        null::bigint as rebuilt_events,
        null::bigint as api_events,
        null::bigint as difference,
        0 as club_partitions_missing,
        null::timestamptz as api_as_of,
        null as api_as_of_source,
        false as is_settled,
        fingerprints.fingerprint as _partitions_fingerprint,
        'not_checked' as status
    from {{ source('placewise_ops', 'loaded_partitions') }} as lp
    inner join fingerprints on lp.partition_date = fingerprints.day
    where
        lp.report = 'sendings_stats'
        and lp.scope like 'club:%'
        and lp.aggregation in ('none', 'service_type', 'campaign_id', 'channel', 'reporting_id')
        and not exists (
            select 1
            from tenants_partitions as tp
            where
                tp.stat_date = lp.partition_date
                and tp.club_aggregation = lp.aggregation
                and coalesce(lp.loyalty_club_id, split_part(lp.scope, ':', 2)::bigint)
                = any(tp.club_ids)
        )

)

select
    *,
    case
        when difference = 0 then 'match'
        -- a club's partition is not loaded (quarantined with its reason, or not synced yet):
        -- the rebuilt figure lacks that club, which is no disagreement with the API
        when club_partitions_missing > 0 then 'incomplete'
        when not is_settled then 'unsettled'
        else 'difference'
    end as status
from final

union all

select * from not_checked
