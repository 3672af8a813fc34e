with source as (

    select * from {{ source('placewise_raw', 'links_visits_history') }}

),

renamed as (

    select
        {{ placewise_timeseries_base_columns() }},
        label ->> 'source_type' as source_type,
        label ->> 'source_id' as source_id,
        label,
        value::bigint as visits

    from source

)

select * from renamed
