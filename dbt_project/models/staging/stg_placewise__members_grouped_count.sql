with source as (

    select * from {{ source('placewise_raw', 'members_grouped_count') }}

),

renamed as (

    select
        {{ placewise_lineage_columns() }},
        aggregation,
        record_key,
        coalesce((record ->> 'community_id')::bigint, loyalty_club_id) as loyalty_club_id,
        record ->> 'grouping_type' as grouping_type,
        record ->> 'grouping_value' as grouping_value,
        (record ->> 'members_count')::bigint as members_count,
        (record ->> 'updated_at')::timestamptz as updated_at,
        record

    from source

)

select * from renamed
