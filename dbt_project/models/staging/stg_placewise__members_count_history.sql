with source as (

    select * from {{ source('placewise_raw', 'members_count_history') }}

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
        label ->> 'optin_platform' as optin_platform,
        label ->> 'gender' as gender,
        label ->> 'age' as age,
        label,
        value::bigint as members_count

    from source

)

select * from renamed
