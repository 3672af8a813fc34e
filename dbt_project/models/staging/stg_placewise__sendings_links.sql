with source as (

    select * from {{ source('placewise_raw', 'sendings_links') }}

),

renamed as (

    select
        {{ placewise_lineage_columns() }},
        aggregation,
        record_key,
        coalesce((record ->> 'loyalty_club_id')::bigint, loyalty_club_id) as loyalty_club_id,
        record ->> 'source_id' as source_id,
        record ->> 'host' as host,
        record ->> 'path' as path,
        record ->> 'utm_campaign' as utm_campaign,
        record ->> 'utm_content' as utm_content,
        record ->> 'utm_medium' as utm_medium,
        record ->> 'utm_source' as utm_source,
        record ->> 'utm_term' as utm_term,
        (record ->> 'visits_count')::bigint as visits_count,
        (record ->> 'unique_visits_count')::bigint as unique_visits_count,
        record

    from source

)

select * from renamed
