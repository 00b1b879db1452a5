"""`autoretrain dashboard`: a read-only Streamlit app over the registry, the lake and the reports (`app`), fed by one
port with two adapters (`sources`), and a command that serves it or screenshots every page (`cli`)."""
