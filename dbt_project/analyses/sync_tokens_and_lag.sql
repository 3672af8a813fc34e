-- Question: how fresh is each club's data, and what does keeping it fresh cost in API
-- tokens?
--
-- Per club (and the cross-club tenants export, club NULL) and report: the data's as-of
-- lag, the last loaded window, API rate-limit tokens spent in the last 24 hours and in
-- total, quarantined slices and the reconciliation state.

select
    sync.loyalty_club_id,
    clubs.name as club_name,
    sync.scope,
    sync.report,
    sync.last_window_end,
    sync.last_server_date,
    sync.lag,
    sync.tokens_spent_24h,
    sync.tokens_spent_total,
    sync.quarantined_slices,
    sync.reconciliation_state
from {{ ref('sync_status') }} as sync
left join {{ ref('dim_loyalty_clubs') }} as clubs
    on sync.loyalty_club_id = clubs.loyalty_club_id
order by sync.lag desc nulls first, sync.scope asc, sync.report asc
