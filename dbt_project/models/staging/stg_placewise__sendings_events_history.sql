with source as (

    select * from {{ source('placewise_raw', 'sendings_events_history') }}

),

renamed as (

    select
        {{ placewise_timeseries_base_columns() }},
        label ->> 'event_type' as event_type,
        label ->> 'channel' as channel,
        (label ->> 'campaign_id')::bigint as campaign_id,
        (label ->> 'sending_id')::bigint as sending_id,
        label,
        value::bigint as events

    from source

)

select * from renamed
