with slices as (

    select
        *,
        case
            when scope like 'club:%' then split_part(scope, ':', 2)::bigint
        end as loyalty_club_id
    from {{ source('placewise_ops', 'slices') }}

),

per_scope as (

    select
        scope,
        report,
        max(loyalty_club_id) as loyalty_club_id,
        max(club_ids) as club_ids,
        max(window_start) filter (where status = 'loaded') as last_window_start,
        max(window_end) filter (where status = 'loaded') as last_window_end,
        max(coalesce(as_of, server_date)) filter (where status = 'loaded') as last_server_date,
        max(loaded_at) filter (where status = 'loaded') as last_loaded_at,
        count(*) filter (where status = 'loaded')::integer as loaded_slices,
        count(*) filter (where status = 'quarantined')::integer as quarantined_slices,
        coalesce(sum(rows) filter (where status = 'loaded'), 0)::bigint as rows_loaded,
        coalesce(sum(tokens_spent) filter (
            where coalesce(loaded_at, requested_at) >= now() - interval '24 hours'
        ), 0)::bigint as tokens_spent_24h,
        coalesce(sum(tokens_spent), 0)::bigint as tokens_spent_total
    from slices
    group by scope, report

),

recon as (

    select * from {{ ref('recon_sendings_stats_totals') }}

),

recon_state as (

    select
        per_scope.scope,
        count(recon.stat_date) filter (where recon.status = 'difference')::integer
            as recon_differences,
        count(recon.stat_date) filter (where recon.status = 'unsettled')::integer
            as recon_unsettled,
        count(recon.stat_date) filter (where recon.status = 'incomplete')::integer
            as recon_incomplete,
        count(recon.stat_date) filter (where recon.status = 'not_checked')::integer
            as recon_not_checked,
        count(recon.stat_date) filter (where recon.status <> 'not_checked')::integer
            as recon_rows
    from per_scope
    inner join recon
        on
            per_scope.scope = recon.tenants_scope
            or per_scope.loyalty_club_id = any(recon.club_ids)
    where per_scope.report = 'sendings_stats'
    group by per_scope.scope

),

final as (

    select
        per_scope.loyalty_club_id,
        per_scope.scope,
        per_scope.report,
        per_scope.club_ids,
        per_scope.last_window_start,
        per_scope.last_window_end,
        per_scope.last_server_date,
        per_scope.last_loaded_at,
        now() - per_scope.last_server_date as lag,
        per_scope.loaded_slices,
        per_scope.quarantined_slices,
        per_scope.rows_loaded,
        per_scope.tokens_spent_24h,
        per_scope.tokens_spent_total,
        case
            when recon_state.recon_differences > 0 then 'difference'
            when recon_state.recon_incomplete > 0 then 'incomplete'
            when recon_state.recon_unsettled > 0 then 'unsettled'
            when recon_state.recon_not_checked > 0 then 'not_checked'
            when recon_state.recon_rows > 0 then 'match'
        end as reconciliation_state,
        recon_state.recon_differences,
        recon_state.recon_unsettled,
        recon_state.recon_incomplete,
        recon_state.recon_not_checked
    from per_scope
    left join recon_state
        on
            per_scope.scope = recon_state.scope
            and per_scope.report = 'sendings_stats'

)

select * from final
