# MLflow's own image lacks the PostgreSQL driver and boto3 that the compose file's backend store
# (PostgreSQL) and artifact store (MinIO over S3) need; basic-auth needs mlflow[auth].
FROM ghcr.io/mlflow/mlflow:v3.17.2
RUN pip install --no-cache-dir "mlflow[auth]==3.17.2" psycopg2-binary==2.9.10 boto3==1.40.55
USER 1000
