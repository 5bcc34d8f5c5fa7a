"""The what-if: each finished parent replayed under every algorithm on the market its journal
recorded (``imperium-exec tca --what-if``, the dock's TCA tab): market (what the journal
holds of each instrument's market, and each parent as it ran), paper (that record as the
paper exchange's market of the instrument), replay (the runs on the production engine over
it), report (the text and the impact parameters)."""
