with source as (

    select * from {{ source('placewise_raw', 'sendings_stats') }}

),

renamed as (

    select
        {{ placewise_lineage_columns() }},
        loyalty_club_id,
        aggregation,
        window_start_local,
        window_end_local,
        stat_date,
        timezone,
        label ->> 'event_type' as event_type,
        label ->> 'channel' as channel,
        label ->> 'service_type' as service_type,
        (label ->> 'campaign_id')::bigint as campaign_id,
        (label ->> 'reporting_id')::bigint as reporting_id,
        (label ->> 'loyalty_club_id')::bigint as label_loyalty_club_id,
        label,
        value::bigint as events

    from source

)

select * from renamed
