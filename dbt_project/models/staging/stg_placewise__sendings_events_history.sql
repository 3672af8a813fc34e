with source as (

    select * from {{ source('placewise_raw', 'sendings_events_history') }}

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
        label ->> 'event_type' as event_type,
        label ->> 'channel' as channel,
        (label ->> 'campaign_id')::bigint as campaign_id,
        (label ->> 'sending_id')::bigint as sending_id,
        label,
        value::bigint as events

    from source

)

select * from renamed
