with source as (

    select * from {{ source('placewise_raw', 'members') }}

),

renamed as (

    select
        {{ placewise_lineage_columns() }},
        aggregation,
        record_key,
        (record ->> 'id')::bigint as member_id,
        coalesce((record ->> 'community_id')::bigint, loyalty_club_id) as loyalty_club_id,
        record ->> 'optin_channel' as optin_channel,
        record ->> 'optin_subchannel' as optin_subchannel,
        record ->> 'optin_platform' as optin_platform,
        record ->> 'gender' as gender,
        record ->> 'age' as age,
        (record ->> 'birth_year_group')::integer as birth_year_group,
        (record ->> 'marketing_via_sms')::boolean as marketing_via_sms,
        (record ->> 'marketing_via_email')::boolean as marketing_via_email,
        (record ->> 'marketing_via_push')::boolean as marketing_via_push,
        (record ->> 'marketing_via_anything')::boolean as marketing_via_anything,
        record ->> 'sms_status' as sms_status,
        record ->> 'email_status' as email_status,
        record ->> 'push_status' as push_status,
        record -> 'consents' as consents,
        record

    from source

)

select * from renamed
