with source as (

    select * from {{ source('placewise_raw', 'sendings_recipients_statistics') }}

),

renamed as (

    select
        {{ placewise_timeseries_base_columns() }},
        label ->> 'gender' as gender,
        label ->> 'age' as age,
        label,
        value::bigint as recipients

    from source

)

select * from renamed
