with club_stats as (

    select * from {{ ref('fct_sendings_stats') }}

),

final as (

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

)

select * from final
