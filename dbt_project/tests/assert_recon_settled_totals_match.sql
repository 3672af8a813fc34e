-- Settled days must reconcile exactly: the cross-club totals rebuilt from the per-club
-- facts equal the API's own total_* figures. Unsettled differences are only reported
-- (recon_sendings_stats_totals.status = 'unsettled'), and so are days where a club's
-- partition is not loaded (status 'incomplete': its reason is in placewise_ops.quarantine).
select
    stat_date,
    tenants_scope,
    aggregation,
    dimension_value,
    event_type,
    rebuilt_events,
    api_events,
    difference,
    api_as_of
from {{ ref('recon_sendings_stats_totals') }}
where status = 'difference'
