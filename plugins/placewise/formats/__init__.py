"""Readers of the Reporting API's result bodies, shared by the extract and the warehouse load.

``json_stream`` reads a JSON body in bounded chunks, one item at a time; ``results`` parses the
records, timeseries and statistics shapes on top of it. Key names and result types come from
``placewise.api.contract`` (the one file to correct an API assumption); this package imports from
``placewise.api`` and is never imported by it.
"""
