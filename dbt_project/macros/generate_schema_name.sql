{#
    Production targets use a model's custom schema name verbatim (placewise_staging,
    placewise_marts, placewise_audit), the names the loader, the BI role and the BI tools
    expect. Every other target, such as `dev`, prefixes it with the target's own schema
    (`dev_placewise_marts`), so a developer's `dbt run` never writes into the production
    schemas. The production targets are listed in the `production_targets` var.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif target.name in var('production_targets') -%}
        {{ custom_schema_name | trim }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
