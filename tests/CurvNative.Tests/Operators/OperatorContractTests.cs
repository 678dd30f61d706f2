using System.Numerics;
using CurvNative.Operators;
using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Operators;

/// <summary>
/// The operator contract, run over every factory of <see cref="OperatorFactories{T}"/> in float and
/// double: products against an independent dense reference (naive loops in double), the adjoint
/// identity, transposes, composites against dense algebra, per-block products, honest flags and
/// argument validation.
/// </summary>
public class OperatorContractTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var name in OperatorFactories.Names)
            foreach (var type in new[] { "float", "double" }) data.Add(name, type);
        return data;
    }

    private static void Run(string type, Action forFloat, Action forDouble)
    {
        if (type == "float") forFloat();
        else if (type == "double") forDouble();
        else throw new ArgumentException($"Unknown element type {type}.");
    }

    [Theory, MemberData(nameof(Cases))]
    public void ToDense_matches_the_independent_reference(string name, string type)
        => Run(type, () => ToDenseMatches<float>(name), () => ToDenseMatches<double>(name));

    [Theory, MemberData(nameof(Cases))]
    public void ToDense_by_small_column_chunks_matches_the_reference(string name, string type)
        => Run(type, () => ToDenseChunks<float>(name), () => ToDenseChunks<double>(name));

    [Theory, MemberData(nameof(Cases))]
    public void MatMat_matches_ToDense_times_X_for_K_0_1_3_17(string name, string type)
        => Run(type, () => MatMatMatches<float>(name, [0, 1, 3, 17]), () => MatMatMatches<double>(name, [0, 1, 3, 17]));

    [Theory, MemberData(nameof(Cases))]
    public void MatMat_with_1025_columns(string name, string type)
        => Run(type, () => MatMatMatches<float>(name, [1025]), () => MatMatMatches<double>(name, [1025]));

    [Theory, MemberData(nameof(Cases))]
    public void MatVec_equals_MatMat_with_one_column(string name, string type)
        => Run(type, () => MatVecIsMatMat<float>(name), () => MatVecIsMatMat<double>(name));

    [Theory, MemberData(nameof(Cases))]
    public void Adjoint_identity_holds(string name, string type)
        => Run(type, () => AdjointIdentity<float>(name), () => AdjointIdentity<double>(name));

    [Theory, MemberData(nameof(Cases))]
    public void Transpose_is_the_transpose_of_ToDense(string name, string type)
        => Run(type, () => TransposeMatches<float>(name), () => TransposeMatches<double>(name));

    [Theory, MemberData(nameof(Cases))]
    public void Composites_match_dense_algebra(string name, string type)
        => Run(type, () => Composites<float>(name), () => Composites<double>(name));

    [Theory, MemberData(nameof(Cases))]
    public void Per_block_MatVec_returns_blocks_of_the_output_space(string name, string type)
        => Run(type, () => PerBlock<float>(name), () => PerBlock<double>(name));

    [Theory, MemberData(nameof(Cases))]
    public void Structure_flags_are_honest(string name, string type)
        => Run(type, () => FlagsHonest<float>(name), () => FlagsHonest<double>(name));

    [Theory, MemberData(nameof(Cases))]
    public void Bad_shapes_are_rejected_with_expected_and_actual_shapes(string name, string type)
        => Run(type, () => BadShapes<float>(name), () => BadShapes<double>(name));

    // ------------------------------------------------------------------ checks

    private static void ToDenseMatches<T>(string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (op, r) = OperatorFactories.Create<T>(name);
        Assert.Equal(r.Rows, op.Rows);
        Assert.Equal(r.Columns, op.Columns);
        Assert.Equal(op.OutputSpace.Dimension, op.Rows);
        Assert.Equal(op.InputSpace.Dimension, op.Columns);
        var dense = op.ToDense();
        Assert.Equal([op.Rows, op.Columns], dense.ShapeArray);
        Dense.AssertClose(r.Value, r.Magnitude, Dense.FromTensor(dense), Dense.Tolerance<T>(), $"{name}: ToDense");
    }

    private static void ToDenseChunks<T>(string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (op, r) = OperatorFactories.Create<T>(name);
        foreach (var chunk in new[] { 1, 2, 7 })
            Dense.AssertClose(r.Value, r.Magnitude, Dense.FromTensor(op.DenseByColumns(chunk)), Dense.Tolerance<T>(),
                $"{name}: dense by chunks of {chunk} columns");
    }

    private static void MatMatMatches<T>(string name, int[] ks) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (op, r) = OperatorFactories.Create<T>(name);
        var rng = new Random(OperatorFactories.Seed(name, 1));
        var dense = Dense.FromTensor(op.ToDense());
        foreach (var k in ks)
        {
            var (x, xd) = Dense.Random<T>(rng, op.Columns, k);
            var before = x.ToArray();
            var y = op.MatMat(x);
            Assert.Equal([op.Rows, k], y.ShapeArray);
            Assert.Equal(before, x.ToArray()); // the input is not modified
            var bound = Dense.MatMul(r.Magnitude, Dense.Abs(xd));
            var yd = Dense.FromTensor(y);
            Dense.AssertClose(Dense.MatMul(dense, xd), bound, yd, Dense.Tolerance<T>(), $"{name}: MatMat vs ToDense * X, K = {k}");
            Dense.AssertClose(Dense.MatMul(r.Value, xd), bound, yd, Dense.Tolerance<T>(), $"{name}: MatMat vs reference * X, K = {k}");
        }
    }

    private static void MatVecIsMatMat<T>(string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (op, r) = OperatorFactories.Create<T>(name);
        var rng = new Random(OperatorFactories.Seed(name, 2));
        var (x, xd) = Dense.Random<T>(rng, op.Columns, 1);
        var y = op.MatVec(x.Reshape(op.Columns));
        Assert.Equal([op.Rows], y.ShapeArray);
        var viaMatMat = Dense.FromTensor(op.MatMat(x));
        Dense.AssertClose(viaMatMat, Dense.MatMul(r.Magnitude, Dense.Abs(xd)), Dense.FromTensor(y.Reshape(op.Rows, 1)),
            Dense.Tolerance<T>(), $"{name}: MatVec vs MatMat");
    }

    private static void AdjointIdentity<T>(string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (op, r) = OperatorFactories.Create<T>(name);
        var rng = new Random(OperatorFactories.Seed(name, 3));
        for (int trial = 0; trial < 3; trial++)
        {
            var (x, xd) = Dense.Random<T>(rng, op.Columns, 1);
            var (y, yd) = Dense.Random<T>(rng, op.Rows, 1);
            double lhs = Dot(op.MatVec(x.Reshape(op.Columns)), y);
            double rhs = Dot(x, op.Transpose().MatVec(y.Reshape(op.Rows)));
            double rhsAdjoint = Dot(x, op.Adjoint().MatVec(y.Reshape(op.Rows)));
            double bound = Dense.MatMul(Dense.MatMul(Dense.Transpose(Dense.Abs(yd)), r.Magnitude), Dense.Abs(xd))[0, 0];
            double tol = 2 * Dense.Tolerance<T>() * bound + 1e-300;
            Assert.True(Math.Abs(lhs - rhs) <= tol, $"{name}: <A x, y> = {lhs:R} but <x, A^T y> = {rhs:R} (allowed {tol:E2}).");
            Assert.True(Math.Abs(lhs - rhsAdjoint) <= tol, $"{name}: <A x, y> = {lhs:R} but <x, A* y> = {rhsAdjoint:R} (allowed {tol:E2}).");
        }
    }

    private static double Dot<T>(Tensor<T> a, Tensor<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.Equal(a.Length, b.Length);
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += double.CreateTruncating(a.Span[i]) * double.CreateTruncating(b.Span[i]);
        return s;
    }

    private static void TransposeMatches<T>(string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (op, r) = OperatorFactories.Create<T>(name);
        var t = op.Transpose();
        Assert.Equal(op.InputSpace, t.OutputSpace);
        Assert.Equal(op.OutputSpace, t.InputSpace);
        Assert.Equal(op.IsSymmetric, t.IsSymmetric);
        Assert.Equal(op.IsPositiveSemiDefinite, t.IsPositiveSemiDefinite);
        var tol = Dense.Tolerance<T>();
        var dense = Dense.FromTensor(op.ToDense());
        Dense.AssertClose(Dense.Transpose(dense), r.T().Magnitude, Dense.FromTensor(t.ToDense()), tol, $"{name}: ToDense(A^T) vs ToDense(A)^T");
        Dense.AssertClose(r.T().Value, r.T().Magnitude, Dense.FromTensor(t.ToDense()), tol, $"{name}: ToDense(A^T) vs reference^T");
        Dense.AssertClose(r.Value, r.Magnitude, Dense.FromTensor(t.Transpose().ToDense()), tol, $"{name}: (A^T)^T");
        var rng = new Random(OperatorFactories.Seed(name, 4));
        var (y, yd) = Dense.Random<T>(rng, op.Rows, 3);
        Dense.AssertClose(Dense.MatMul(r.T().Value, yd), Dense.MatMul(r.T().Magnitude, Dense.Abs(yd)), Dense.FromTensor(t.MatMat(y)), tol,
            $"{name}: A^T Y");
    }

    private static void Composites<T>(string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (a, r) = OperatorFactories.Create<T>(name);
        var rng = new Random(OperatorFactories.Seed(name, 5));
        var b = OperatorFactories<T>.DenseCase(rng, a.Rows, a.Columns, a.OutputSpace, a.InputSpace);
        var c = OperatorFactories<T>.DenseCase(rng, a.Columns, 3, a.InputSpace, null);
        var d = OperatorFactories<T>.DenseCase(rng, 4, a.Rows, null, a.OutputSpace);
        var cases = new (string What, LinearOperator<T> Op, Ref Ref)[]
        {
            ("A + B", a + b.Op, r + b.Ref),
            ("B + A", b.Op + a, b.Ref + r),
            ("A - B", a - b.Op, r - b.Ref),
            ("B - A", b.Op - a, b.Ref - r),
            ("A + A", a.Add(a), r + r),
            ("A - A", a.Subtract(a), r - r),
            ("2.5 A", T.CreateTruncating(2.5) * a, 2.5 * r),
            ("A 2.5", a * T.CreateTruncating(2.5), 2.5 * r),
            ("-A", -a, -1.0 * r),
            ("-(-A)", -(-a), r),
            ("0.5 (2.5 A)", a.Scale(T.CreateTruncating(2.5)).Scale(T.CreateTruncating(0.5)), 1.25 * r),
            ("A C", a * c.Op, r * c.Ref),
            ("D A", d.Op.Compose(a), d.Ref * r),
            ("D A C", d.Op * a * c.Op, d.Ref * r * c.Ref),
            ("A^T D^T", a.Transpose() * d.Op.Transpose(), r.T() * d.Ref.T()),
            ("(A + B) - 2.5 B", a + b.Op - T.CreateTruncating(2.5) * b.Op, r + b.Ref - 2.5 * b.Ref),
            ("A^T A", a.Transpose() * a, r.T() * r),
            ("I A", new IdentityOperator<T>(a.OutputSpace) * a, r),
            ("A I", a * new IdentityOperator<T>(a.InputSpace), r),
        };
        var tol = Dense.Tolerance<T>();
        foreach (var (what, op, reference) in cases)
        {
            string label = $"{name}: {what}";
            Assert.Equal(reference.Rows, op.Rows);
            Assert.Equal(reference.Columns, op.Columns);
            Dense.AssertClose(reference.Value, reference.Magnitude, Dense.FromTensor(op.ToDense()), tol, $"{label} ToDense");
            var (x, xd) = Dense.Random<T>(rng, op.Columns, 3);
            Dense.AssertClose(Dense.MatMul(reference.Value, xd), Dense.MatMul(reference.Magnitude, Dense.Abs(xd)),
                Dense.FromTensor(op.MatMat(x)), tol, $"{label} MatMat");
            var (y, yd) = Dense.Random<T>(rng, op.Rows, 2);
            Dense.AssertClose(Dense.MatMul(reference.T().Value, yd), Dense.MatMul(reference.T().Magnitude, Dense.Abs(yd)),
                Dense.FromTensor(op.Transpose().MatMat(y)), tol, $"{label} transpose MatMat");
            if (op.IsSymmetric)
                Dense.AssertClose(reference.Value, Dense.Add(reference.Magnitude, reference.T().Magnitude, 1), Dense.Transpose(reference.Value), 1e-12,
                    $"{label} is flagged symmetric");
            if (op.IsPositiveSemiDefinite)
                Assert.True(Dense.CholeskySucceeds(reference.Value, 1e-9 * Math.Max(1, Dense.MaxAbs(reference.Magnitude))),
                    $"{label} is flagged positive semi-definite but has a negative eigenvalue.");
        }
    }

    private static void PerBlock<T>(string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (op, r) = OperatorFactories.Create<T>(name);
        var rng = new Random(OperatorFactories.Seed(name, 6));
        var (x, xd) = Dense.Random<T>(rng, op.Columns, 1);
        var blocks = op.InputSpace.Split(x.Reshape(op.Columns));
        var outBlocks = op.MatVec(blocks);
        Assert.Equal(op.OutputSpace.BlockCount, outBlocks.Length);
        for (int b = 0; b < outBlocks.Length; b++)
            Assert.Equal(op.OutputSpace.BlockShape(b).ToArray(), outBlocks[b].ShapeArray);
        var joined = op.OutputSpace.Join(outBlocks);
        Dense.AssertClose(Dense.MatMul(r.Value, xd), Dense.MatMul(r.Magnitude, Dense.Abs(xd)), Dense.FromTensor(joined.Reshape(op.Rows, 1)),
            Dense.Tolerance<T>(), $"{name}: per-block MatVec");
        Assert.Equal(op.MatVec(x.Reshape(op.Columns)).ToArray(), joined.ToArray());
    }

    private static void FlagsHonest<T>(string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (op, r) = OperatorFactories.Create<T>(name);
        if (op.IsPositiveSemiDefinite) Assert.True(op.IsSymmetric, $"{name}: PSD but not symmetric.");
        if (op.IsSymmetric)
        {
            Assert.Equal(op.InputSpace, op.OutputSpace);
            Assert.Same(op, op.Transpose());
            var dense = Dense.FromTensor(op.ToDense());
            Dense.AssertClose(dense, Dense.Add(r.Magnitude, r.T().Magnitude, 1), Dense.Transpose(dense), Dense.Tolerance<T>(),
                $"{name}: flagged symmetric, ToDense vs its transpose");
            Dense.AssertClose(r.Value, Dense.Add(r.Magnitude, r.T().Magnitude, 1), Dense.Transpose(r.Value), 1e-12,
                $"{name}: flagged symmetric, reference vs its transpose");
        }
        if (op.IsPositiveSemiDefinite)
        {
            double shift = 1e-9 * Math.Max(1, Dense.MaxAbs(r.Magnitude));
            Assert.True(Dense.CholeskySucceeds(r.Value, shift), $"{name}: flagged positive semi-definite, but the reference has a negative eigenvalue.");
        }
    }

    private static void BadShapes<T>(string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (op, _) = OperatorFactories.Create<T>(name);
        int n = op.Columns;

        var e = Assert.Throws<ArgumentException>(() => op.MatMat(Tensor<T>.Zeros(n + 1, 2)));
        Assert.Equal("x", e.ParamName);
        Assert.Contains($"[{n}, K]", e.Message);
        Assert.Contains($"[{n + 1}, 2]", e.Message);

        e = Assert.Throws<ArgumentException>(() => op.MatMat(Tensor<T>.Zeros(n)));
        Assert.Contains($"[{n}, K]", e.Message);
        Assert.Contains($"got shape [{n}]", e.Message);

        e = Assert.Throws<ArgumentException>(() => op.MatVec(Tensor<T>.Zeros(n, 1)));
        Assert.Contains($"expected x of shape [{n}]", e.Message);
        Assert.Contains($"[{n}, 1]", e.Message);

        e = Assert.Throws<ArgumentException>(() => op.MatVec(Tensor<T>.Zeros(n + 2)));
        Assert.Contains($"[{n + 2}]", e.Message);

        e = Assert.Throws<ArgumentException>(() => op.MatVec([.. op.InputSpace.Split(Tensor<T>.Zeros(n)), Tensor<T>.Zeros(1)]));
        Assert.Contains($"Expected {op.InputSpace.BlockCount} blocks", e.Message);
        Assert.Contains($"got {op.InputSpace.BlockCount + 1}", e.Message);

        // NaN is data, not an error: it propagates.
        var nan = Tensor<T>.Full(T.NaN, n, 2);
        var y = op.MatMat(nan);
        Assert.Equal([op.Rows, 2], y.ShapeArray);
    }
}
