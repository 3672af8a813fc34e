with sendings as (

    select * from {{ ref('stg_placewise__sendings') }}

),

latest as (

    -- Records are current state; should two snapshots of one sending coexist, keep the
    -- most recently loaded one.
    select distinct on (sending_id) *
    from sendings
    order by sending_id asc, _loaded_at desc, _slice_id desc

),

final as (

    select
        sending_id,
        loyalty_club_id,
        reporting_id,
        channel,
        service_type,
        campaign_id,
        source_id,
        source_app,
        source_type,
        language,
        audience_id,
        created_at,
        dispatches_count,
        members_count,
        new_count,
        transmitted_count,
        transiently_failed_count,
        delivered_count,
        opened_count,
        opened_event_count,
        failed_count,
        delivery_errored_count,
        history_1d_from as history_from,
        history_1d_to as history_to,
        _slice_id,
        _loaded_at
    from latest

)

select * from final
