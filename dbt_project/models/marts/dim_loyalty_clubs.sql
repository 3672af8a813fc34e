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

api_timezone as (

    -- The zone the API reported most recently in a single-club slice: the newest loaded
    -- slice of the club with a zone, found through its raw rows by slice (an index lookup
    -- per slice until one has a zone), never a scan of the whole raw history.
    select
        club_ids.loyalty_club_id,
        (
            select stats.timezone
            from {{ source('placewise_ops', 'slices') }} as slices
            inner join {{ ref('stg_placewise__sendings_stats') }} as stats
                on slices.slice_id = stats._slice_id
            where
                slices.report = 'sendings_stats'
                and slices.scope = 'club:' || club_ids.loyalty_club_id
                and slices.status = 'loaded'
                and stats.timezone is not null
            order by slices.loaded_at desc, slices.slice_id desc
            limit 1
        ) as timezone
    from club_ids

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
