{#
    For every (group_by..., event column) the events of each aggregation summed over its
    dimension values equal the events of the `none` (unaggregated) row. A missing row
    counts as 0 on its side (only non-zero series are loaded). Aggregations are compared
    within the groups where both they and `none` have at least one row: a partition the
    loader quarantined is absent (its reason is in placewise_ops.quarantine), and the other
    aggregations of that club-day must still reach the marts rather than fail the build.
#}
{% test aggregations_sum_to_none(
    model, group_by, event_column='event_type', value_column='events',
    aggregation_column='aggregation'
) %}
    with sums as (
        select
            {{ group_by | join(', ') }},
            {{ event_column }},
            {{ aggregation_column }} as aggregation,
            sum({{ value_column }}) as total
        from {{ model }}
        group by {{ group_by | join(', ') }}, {{ event_column }}, {{ aggregation_column }}
    ),

    loaded as (
        select distinct
            {{ group_by | join(', ') }},
            {{ aggregation_column }} as aggregation
        from {{ model }}
    ),

    events as (
        select distinct
            {{ group_by | join(', ') }},
            {{ event_column }}
        from {{ model }}
    ),

    expected as (
        select
            {% for column in group_by %}loaded.{{ column }}, {% endfor %}
            events.{{ event_column }},
            loaded.aggregation
        from loaded
        inner join events
            on
            {% for column in group_by %}
                {% if not loop.first %}and {% endif %}loaded.{{ column }} = events.{{ column }}
            {% endfor %}
        where
            loaded.aggregation <> 'none'
            and exists (
                select 1 from loaded as base_loaded
                where
                    base_loaded.aggregation = 'none'
                    {% for column in group_by %}
                        and base_loaded.{{ column }} = loaded.{{ column }}
                    {% endfor %}
            )
    )

    select
        expected.*,
        coalesce(agg.total, 0) as aggregation_total,
        coalesce(base.total, 0) as none_total
    from expected
    left join sums as agg
        on
        {% for column in group_by %}
            agg.{{ column }} = expected.{{ column }} and
        {% endfor %}
        agg.{{ event_column }} = expected.{{ event_column }}
        and agg.aggregation = expected.aggregation
    left join sums as base
        on
        {% for column in group_by %}
            base.{{ column }} = expected.{{ column }} and
        {% endfor %}
        base.{{ event_column }} = expected.{{ event_column }}
        and base.aggregation = 'none'
    where coalesce(agg.total, 0) <> coalesce(base.total, 0)
{% endtest %}
