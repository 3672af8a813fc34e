with source as (

    select * from {{ source('placewise_raw', 'member_balance') }}

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
        label ->> 'type' as balance_type,
        label ->> 'optin_platform' as optin_platform,
        label,
        value::bigint as members

    from source

)

select * from renamed
