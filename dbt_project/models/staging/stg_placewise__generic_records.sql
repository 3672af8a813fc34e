with source as (

    select * from {{ source('placewise_raw', 'generic_records') }}

),

renamed as (

    select
        {{ placewise_lineage_columns() }},
        report,
        loyalty_club_id,
        aggregation,
        record_key,
        record

    from source

)

select * from renamed
