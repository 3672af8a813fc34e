with source as (

    select * from {{ source('placewise_raw', 'links_visits_history') }}

),

renamed as (

    select
        _slice_id,
        _scope,
        _loaded_at,
        _response_sha256,
        _row_no,
        loyalty_club_id,
        aggregation,
        interval as bucket_interval,
        bucket_local,
        bucket_start,
        bucket_date,
        timezone,
        label ->> 'source_type' as source_type,
        label ->> 'source_id' as source_id,
        label,
        value::bigint as visits

    from source

)

select * from renamed
