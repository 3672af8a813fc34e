with source as (

    select * from {{ source('placewise_raw', 'sendings') }}

),

renamed as (

    select
        {{ placewise_lineage_columns() }},
        aggregation,
        record_key,
        (record ->> 'id')::bigint as sending_id,
        coalesce((record ->> 'loyalty_club_id')::bigint, loyalty_club_id) as loyalty_club_id,
        record ->> 'language' as language,
        record ->> 'channel' as channel,
        record ->> 'service_type' as service_type,
        (record ->> 'reporting_id')::bigint as reporting_id,
        record ->> 'source_id' as source_id,
        record ->> 'source_app' as source_app,
        record ->> 'source_type' as source_type,
        (record ->> 'audience_id')::bigint as audience_id,
        (record ->> 'campaign_id')::bigint as campaign_id,
        (record ->> 'dispatches_count')::bigint as dispatches_count,
        (record ->> 'members_count')::bigint as members_count,
        (record ->> 'new_count')::bigint as new_count,
        (record ->> 'transmitted_count')::bigint as transmitted_count,
        (record ->> 'transiently_failed_count')::bigint as transiently_failed_count,
        (record ->> 'delivered_count')::bigint as delivered_count,
        (record ->> 'opened_count')::bigint as opened_count,
        (record ->> 'opened_event_count')::bigint as opened_event_count,
        (record ->> 'failed_count')::bigint as failed_count,
        (record ->> 'delivery_errored_count')::bigint as delivery_errored_count,
        (record ->> 'created_at')::timestamptz as created_at,
        (record #>> '{history_ranges,1d,from}')::timestamptz as history_1d_from,
        (record #>> '{history_ranges,1d,to}')::timestamptz as history_1d_to,
        record -> 'history_ranges' as history_ranges,
        record

    from source

)

select * from renamed
