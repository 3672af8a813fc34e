-- Question: what were the delivery rate and the open rate per club and channel over the
-- last 30 settled days?
--
-- Settled days are the days whose reconciliation against the API's cross-club totals is
-- final (placewise_audit.recon_sendings_stats_totals.is_settled). Rates are ratios of sums
-- over the period (the same definition as the delivery_rate and open_rate metrics), not
-- averages of daily rates.

with settled_days as (

    select distinct stat_date
    from {{ ref('recon_sendings_stats_totals') }}
    where is_settled and aggregation = 'total'
    order by stat_date desc
    limit 30

),

performance as (

    select perf.*
    from {{ ref('mart_sendings_daily_performance') }} as perf
    inner join settled_days on perf.stat_date = settled_days.stat_date

)

select
    performance.loyalty_club_id,
    clubs.name as club_name,
    performance.channel,
    min(performance.stat_date) as first_day,
    max(performance.stat_date) as last_day,
    sum(performance.transmitted) as transmitted,
    sum(performance.delivered) as delivered,
    sum(performance.opened) as opened,
    sum(performance.delivered)::double precision
    / nullif(sum(performance.transmitted), 0) as delivery_rate,
    sum(performance.opened)::double precision
    / nullif(sum(performance.delivered), 0) as open_rate
from performance
inner join {{ ref('dim_loyalty_clubs') }} as clubs
    on performance.loyalty_club_id = clubs.loyalty_club_id
group by performance.loyalty_club_id, clubs.name, performance.channel
order by performance.loyalty_club_id, performance.channel
