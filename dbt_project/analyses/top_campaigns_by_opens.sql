-- Question: which campaigns had the most opens over the last 30 club-local days?
--
-- From the campaign_id aggregation of fct_sendings_stats; '(null)' (sendings outside any
-- campaign) is left out. Opens are summed per campaign and club over the club's last 30
-- loaded days.

with campaign_opens as (

    select
        loyalty_club_id,
        dimension_value as campaign_id,
        stat_date,
        events
    from {{ ref('fct_sendings_stats') }}
    where
        aggregation = 'campaign_id'
        and event_type = 'opened'
        and dimension_value <> '(null)'

),

club_windows as (

    select
        loyalty_club_id,
        last_synced_day - 29 as first_day,
        last_synced_day as last_day
    from {{ ref('dim_loyalty_clubs') }}

)

select
    campaign_opens.loyalty_club_id,
    campaign_opens.campaign_id,
    sum(campaign_opens.events) as opens,
    count(distinct campaign_opens.stat_date) as days_with_opens,
    rank() over (order by sum(campaign_opens.events) desc) as opens_rank
from campaign_opens
inner join club_windows
    on
        campaign_opens.loyalty_club_id = club_windows.loyalty_club_id
        and campaign_opens.stat_date between club_windows.first_day and club_windows.last_day
group by campaign_opens.loyalty_club_id, campaign_opens.campaign_id
order by opens desc, campaign_opens.loyalty_club_id asc, campaign_opens.campaign_id asc
limit 10
