{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ placewise_delete_replaced_partitions('sendings_recipients_statistics', '1d', 'bucket_date') }}",
        indexes=[{'columns': ['loyalty_club_id', 'aggregation', 'bucket_date']}]
    )
}}

{{ placewise_timeseries_fact(
    report='sendings_recipients_statistics',
    staging_model='stg_placewise__sendings_recipients_statistics',
    dimension_columns={'gender': 'gender', 'age': 'age'},
    measure='recipients',
    extra_columns={},
    no_dimension=('none',)
) }}
