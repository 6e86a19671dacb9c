"""Apache Spark (pyspark, local[2]) for the engine tests: the session settings test_spark.py and
test_spark_iceberg.py share -- bound to 127.0.0.1, no UI, UTC, two shuffle partitions, Spark's
log in the cache's logs dir (spark-log4j2.properties) instead of the test's output."""
import os

import harness as H

HERE = os.path.dirname(os.path.abspath(__file__))
LOGS = os.path.join(H.CACHE, "logs")


def builder(app, log, java_options=""):
    """A SparkSession.Builder with the shared settings; log: Spark's log file; java_options:
    more driver JVM options. The caller adds its own settings and calls getOrCreate()."""
    from pyspark.sql import SparkSession
    os.makedirs(LOGS, exist_ok=True)
    log4j = os.path.join(HERE, "spark-log4j2.properties")
    return (SparkSession.builder.master("local[2]").appName(app)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.memory", "1g")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.extraJavaOptions", f"-Duser.timezone=UTC {java_options} "
                    f"-Dlog4j2.configurationFile=file:{log4j} -Didbsync.spark.log={log}"))
