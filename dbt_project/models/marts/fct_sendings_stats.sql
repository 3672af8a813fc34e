{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ placewise_delete_replaced_partitions('sendings_stats', 'statistics', 'stat_date') }}",
        indexes=[{'columns': ['loyalty_club_id', 'aggregation', 'stat_date']}]
    )
}}

with batch as (

    {{ placewise_partition_batch('sendings_stats', 'statistics', 'stat_date', for_insert=true) }}

),

series as (

    select
        stats.*,
        batch.loyalty_club_id as partition_club_id
    from {{ ref('stg_placewise__sendings_stats') }} as stats
    inner join batch
        on
            stats._slice_id = batch.slice_id
            and stats._scope = batch.scope
            and stats.aggregation = batch.aggregation
            and stats.stat_date = batch.partition_date

),

final as (

    select
        stat_date,
        partition_club_id as loyalty_club_id,
        aggregation,
        {{ placewise_dimension_value({
            'service_type': 'service_type',
            'campaign_id': 'campaign_id',
            'channel': 'channel',
            'reporting_id': 'reporting_id',
        }) }} as dimension_value,
        event_type,
        events,
        _slice_id,
        _loaded_at
    from series

)

select * from final
