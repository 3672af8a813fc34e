{#
    Use a model's custom schema name verbatim (placewise_staging, placewise_marts,
    placewise_audit) instead of dbt's default "<target schema>_<custom>", so BI tools
    and the pipeline see the same schema names in every environment.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
