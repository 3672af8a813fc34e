with source as (

    select * from {{ source('placewise_raw', 'member_balance') }}

),

renamed as (

    select
        {{ placewise_timeseries_base_columns() }},
        label ->> 'type' as balance_type,
        label ->> 'optin_platform' as optin_platform,
        label ->> 'consents' as consents,
        label,
        value::bigint as members

    from source

)

select * from renamed
