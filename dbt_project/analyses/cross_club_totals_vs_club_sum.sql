-- Question: on the latest settled day, do the cross-club totals agree with the sum of the
-- per-club figures, per event type?
--
-- Three numbers per event type: the warehouse's cross-club total
-- (agg_sendings_stats_total, aggregation total), the sum over the clubs of their own
-- figures (fct_sendings_stats, aggregation none) and the API's own total
-- (recon_sendings_stats_totals.api_events). A missing row counts as 0.

with latest_settled_day as (

    select max(stat_date) as stat_date
    from {{ ref('recon_sendings_stats_totals') }}
    where is_settled and aggregation = 'total'

),

warehouse_totals as (

    select
        totals.event_type,
        totals.events as total_events,
        totals.clubs_count
    from {{ ref('agg_sendings_stats_total') }} as totals
    inner join latest_settled_day on totals.stat_date = latest_settled_day.stat_date
    where totals.aggregation = 'total'

),

club_sums as (

    select
        facts.event_type,
        sum(facts.events) as club_sum_events
    from {{ ref('fct_sendings_stats') }} as facts
    inner join latest_settled_day on facts.stat_date = latest_settled_day.stat_date
    where facts.aggregation = 'none'
    group by facts.event_type

),

api_totals as (

    select
        recon.event_type,
        sum(recon.api_events) as api_events
    from {{ ref('recon_sendings_stats_totals') }} as recon
    inner join latest_settled_day on recon.stat_date = latest_settled_day.stat_date
    where recon.aggregation = 'total'
    group by recon.event_type

),

event_types as (

    select event_type from warehouse_totals
    union
    select event_type from club_sums
    union
    select event_type from api_totals

)

select
    latest_settled_day.stat_date,
    event_types.event_type,
    coalesce(warehouse_totals.total_events, 0) as total_events,
    coalesce(club_sums.club_sum_events, 0) as club_sum_events,
    coalesce(api_totals.api_events, 0) as api_events,
    coalesce(warehouse_totals.clubs_count, 0) as clubs_count,
    coalesce(warehouse_totals.total_events, 0)
    = coalesce(club_sums.club_sum_events, 0)
    and coalesce(club_sums.club_sum_events, 0)
    = coalesce(api_totals.api_events, 0) as totals_agree
from event_types
cross join latest_settled_day
left join warehouse_totals on event_types.event_type = warehouse_totals.event_type
left join club_sums on event_types.event_type = club_sums.event_type
left join api_totals on event_types.event_type = api_totals.event_type
order by event_types.event_type
