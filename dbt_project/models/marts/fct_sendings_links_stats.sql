with links_stats as (

    select * from {{ ref('stg_placewise__sendings_links_stats') }}

),

latest as (

    select distinct on (loyalty_club_id, source_id) *
    from links_stats
    order by loyalty_club_id asc, source_id asc, _loaded_at desc, _slice_id desc

),

final as (

    select
        loyalty_club_id,
        source_id,
        visits_count,
        unique_visits_count,
        _slice_id,
        _loaded_at
    from latest

)

select * from final
