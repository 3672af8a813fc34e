with grouped_counts as (

    select * from {{ ref('stg_placewise__members_grouped_count') }}

),

latest as (

    select distinct on (loyalty_club_id, grouping_type, grouping_value) *
    from grouped_counts
    order by
        loyalty_club_id asc,
        grouping_type asc,
        grouping_value asc,
        _loaded_at desc,
        _slice_id desc

),

final as (

    select
        loyalty_club_id,
        grouping_type,
        coalesce(grouping_value, '(null)') as grouping_value,
        members_count,
        updated_at,
        _slice_id,
        _loaded_at
    from latest

)

select * from final
