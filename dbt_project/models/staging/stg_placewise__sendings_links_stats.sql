with source as (

    select * from {{ source('placewise_raw', 'sendings_links_stats') }}

),

renamed as (

    select
        {{ placewise_lineage_columns() }},
        aggregation,
        record_key,
        coalesce((record ->> 'loyalty_club_id')::bigint, loyalty_club_id) as loyalty_club_id,
        record ->> 'source_id' as source_id,
        (record ->> 'visits_count')::bigint as visits_count,
        (record ->> 'unique_visits_count')::bigint as unique_visits_count,
        record

    from source

)

select * from renamed
