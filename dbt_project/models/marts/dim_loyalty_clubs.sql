with registry as (

    select * from {{ source('placewise_ops', 'clubs') }}

),

partitions as (

    select
        coalesce(loyalty_club_id, split_part(scope, ':', 2)::bigint) as loyalty_club_id,
        partition_date
    from {{ source('placewise_ops', 'loaded_partitions') }}
    where report = 'sendings_stats' and scope like 'club:%'

),

synced as (

    select
        loyalty_club_id,
        min(partition_date) as first_synced_day,
        max(partition_date) as last_synced_day,
        count(distinct partition_date)::integer as synced_days_count
    from partitions
    group by loyalty_club_id

),

club_ids as (

    -- Every club the registry names or the pipeline has loaded anything for.
    select loyalty_club_id from registry
    union
    select split_part(scope, ':', 2)::bigint as loyalty_club_id
    from {{ source('placewise_ops', 'slices') }}
    where scope like 'club:%'

),

latest_club_slices as (

    -- Per club its newest loaded single-club sendings_stats slice that returned rows.
    select distinct on (loyalty_club_id)
        split_part(scope, ':', 2)::bigint as loyalty_club_id,
        slice_id
    from {{ source('placewise_ops', 'slices') }}
    where
        report = 'sendings_stats'
        and scope like 'club:%'
        and status = 'loaded'
        and rows > 0
    order by loyalty_club_id asc, loaded_at desc, slice_id desc

),

api_timezone as (

    -- The zone the API reported most recently in a single-club slice, read from that
    -- slice's raw rows (an index lookup by slice, not a scan of the whole raw history).
    select
        latest.loyalty_club_id,
        (
            select stats.timezone
            from {{ ref('stg_placewise__sendings_stats') }} as stats
            where stats._slice_id = latest.slice_id and stats.timezone is not null
            order by stats._row_no asc
            limit 1
        ) as timezone
    from latest_club_slices as latest

),

final as (

    select
        club_ids.loyalty_club_id,
        registry.name,
        coalesce(registry.timezone, api_timezone.timezone) as timezone,
        coalesce(registry.enabled, false) as enabled,
        synced.first_synced_day,
        synced.last_synced_day,
        coalesce(synced.synced_days_count, 0) as synced_days_count
    from club_ids
    left join registry on club_ids.loyalty_club_id = registry.loyalty_club_id
    left join synced on club_ids.loyalty_club_id = synced.loyalty_club_id
    left join api_timezone on club_ids.loyalty_club_id = api_timezone.loyalty_club_id

)

select * from final
