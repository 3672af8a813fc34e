-- Question: how did each club's member count develop over its last 30 loaded days?
--
-- members_count is a stock (the count on that day), so it is compared day to day, never
-- summed over days. Aggregation none holds the club's whole count ('(all)').

with members as (

    select
        loyalty_club_id,
        bucket_date,
        members_count
    from {{ ref('fct_members_count_history') }}
    where aggregation = 'none'

),

club_windows as (

    select
        loyalty_club_id,
        max(bucket_date) - 29 as first_day
    from members
    group by loyalty_club_id

)

select
    members.loyalty_club_id,
    clubs.name as club_name,
    members.bucket_date,
    members.members_count,
    members.members_count - lag(members.members_count) over (
        partition by members.loyalty_club_id order by members.bucket_date
    ) as change_from_previous_day
from members
inner join club_windows
    on
        members.loyalty_club_id = club_windows.loyalty_club_id
        and members.bucket_date >= club_windows.first_day
inner join {{ ref('dim_loyalty_clubs') }} as clubs
    on members.loyalty_club_id = clubs.loyalty_club_id
order by members.loyalty_club_id, members.bucket_date
