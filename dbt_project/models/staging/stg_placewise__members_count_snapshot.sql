with source as (

    select * from {{ source('placewise_raw', 'members_count_snapshot') }}

),

renamed as (

    select
        {{ placewise_timeseries_base_columns() }},
        label ->> 'optin_platform' as optin_platform,
        label ->> 'gender' as gender,
        label ->> 'age' as age,
        label ->> 'grouping_type' as grouping_type,
        label ->> 'grouping_value' as grouping_value,
        label,
        value::bigint as members_count

    from source

)

select * from renamed
