-- One PostgreSQL server, one database per service (run once by the postgres image at first start).
CREATE DATABASE prefect;
CREATE DATABASE mlflow;
CREATE DATABASE lakefs;
