"""`autoretrain cost`: the stack's monthly AWS cost per service, from usage measured on the emulator (`measure`,
`usage`), the stack's shape (`stack`) and a dated price table (`prices`), combined by a pure model (`model`).

Entry point: `autoretrain.cost.cli.main`.
"""
