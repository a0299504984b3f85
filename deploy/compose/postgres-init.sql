-- Run once, when the PostgreSQL volume is new: the tracker store's database next to the account
-- store's (POSTGRES_DB). Rasa creates its tables itself; `migrate` creates the account store's.
CREATE DATABASE rasa OWNER meridian;
