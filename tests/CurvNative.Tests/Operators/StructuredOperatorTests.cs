using CurvNative.Operators;
using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Operators;

/// <summary>Kronecker closed forms and vec convention, sub-operators, low-rank and diagonal specifics.</summary>
public class StructuredOperatorTests
{
    // ------------------------------------------------------------------ Kronecker

    [Fact]
    public void Kronecker_matches_the_explicit_product_in_row_major_convention()
    {
        // A = [[1, 2]], B = [[0, 1], [1, 0], [2, 3]]: np.kron(A, B) written out by hand.
        var a = Tensor<double>.FromArray([1, 2], 1, 2);
        var b = Tensor<double>.FromArray([0, 1, 1, 0, 2, 3], 3, 2);
        double[] expected =
        [
            0, 1, 0, 2,
            1, 0, 2, 0,
            2, 3, 4, 6,
        ];
        var k = new KroneckerOperator<double>(a, b);
        Assert.Equal([3, 4], k.ToDense().ShapeArray);
        Assert.Equal(expected, k.ToDense().ToArray());
        Assert.Equal(new Space([1, 3]), k.OutputSpace);
        Assert.Equal(new Space([2, 2]), k.InputSpace);
    }

    [Theory]
    [InlineData(3, 3, 4, 4)]
    [InlineData(2, 5, 3, 1)]
    [InlineData(1, 1, 1, 1)]
    [InlineData(4, 1, 1, 6)]
    public void Kronecker_applies_vec_of_A_X_B_transpose(int p, int q, int r, int s)
    {
        var rng = new Random(OperatorFactories.Seed($"kron{p}{q}{r}{s}"));
        var (a, ad) = Dense.Random<double>(rng, p, q);
        var (b, bd) = Dense.Random<double>(rng, r, s);
        var (x, xd) = Dense.Random<double>(rng, q, s);
        var k = new KroneckerOperator<double>(a, b);
        // (A ⊗ B) vec(X) = vec(A X Bᵀ) with vec = row-major flattening
        var y = k.MatVec(x.Reshape(q * s));
        var expected = Dense.MatMul(Dense.MatMul(ad, xd), Dense.Transpose(bd));
        var bound = Dense.MatMul(Dense.MatMul(Dense.Abs(ad), Dense.Abs(xd)), Dense.Abs(Dense.Transpose(bd)));
        Dense.AssertClose(expected, bound, Dense.FromTensor(y.Reshape(p, r)), 1e-12, "vec(A X B^T)");
        // and against the explicit Kronecker product
        Dense.AssertClose(Dense.Kron(ad, bd), Dense.Abs(Dense.Kron(ad, bd)), Dense.FromTensor(k.ToDense()), 0, "explicit kron");
        // per-block form: the single input block is X itself
        var yBlocks = k.MatVec([x]);
        Assert.Equal([p, r], yBlocks[0].ShapeArray);
        Dense.AssertClose(expected, bound, Dense.FromTensor(yBlocks[0]), 1e-12, "vec(A X B^T) per block");
    }

    [Fact]
    public void Kronecker_trace_frobenius_and_logdet_match_dense_computations()
    {
        var rng = new Random(11);
        var (a, ad) = Dense.Random<double>(rng, 3, 3);
        var (b, bd) = Dense.Random<double>(rng, 4, 4);
        var k = new KroneckerOperator<double>(a, b);
        var kd = Dense.Kron(ad, bd);

        double trace = 0, frob = 0;
        for (int i = 0; i < 12; i++) trace += kd[i, i];
        foreach (var v in kd) frob += v * v;
        Assert.Equal(trace, k.Trace(), 1e-12);
        Assert.Equal(Math.Sqrt(frob), k.FrobeniusNorm(), 1e-12);

        var (sign, logAbs) = Dense.SignLogDet(kd);
        Assert.NotEqual(0, sign);
        var (ks, kl) = k.SignAndLogDeterminant();
        Assert.Equal(sign, ks);
        Assert.Equal(logAbs, kl, 1e-10);
        if (sign > 0) Assert.Equal(logAbs, k.LogDeterminant(), 1e-10);
        else Assert.True(double.IsNaN(k.LogDeterminant()));
    }

    [Fact]
    public void Kronecker_logdet_of_spd_factors_and_its_sign_for_negative_determinants()
    {
        var rng = new Random(12);
        var (a, ad) = OperatorFactories<double>.SpdMatrix(rng, 3);
        var (b, bd) = OperatorFactories<double>.SpdMatrix(rng, 2);
        var k = new KroneckerOperator<double>(a, b, isPositiveSemiDefinite: true);
        Assert.Equal(Dense.SignLogDet(Dense.Kron(ad, bd)).LogAbs, k.LogDeterminant(), 1e-10);

        // det(A) = -1 with n_B = 1: det(A ⊗ B) < 0, log det is NaN (as torch.logdet), sign -1
        var flip = new KroneckerOperator<double>(Tensor<double>.FromArray([0, 1, 1, 0], 2, 2), Tensor<double>.FromArray([3], 1, 1));
        Assert.Equal((-1, 2 * Math.Log(3)), (flip.SignAndLogDeterminant().Sign, flip.SignAndLogDeterminant().LogAbsDeterminant));
        Assert.True(double.IsNaN(flip.LogDeterminant()));
        // with n_B = 2 the sign squares away
        var even = new KroneckerOperator<double>(Tensor<double>.FromArray([0, 1, 1, 0], 2, 2), Tensor<double>.FromArray([3, 0, 0, 1], 2, 2));
        Assert.Equal(2 * Math.Log(3), even.LogDeterminant(), 1e-14);
        Assert.Equal(Dense.SignLogDet(Dense.Kron(new double[,] { { 0, 1 }, { 1, 0 } }, new double[,] { { 3, 0 }, { 0, 1 } })).LogAbs,
            even.LogDeterminant(), 1e-14);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Kronecker_logdet_of_a_singular_factor_is_minus_infinity(bool singularFirst)
    {
        var rng = new Random(13);
        var (regular, _) = Dense.Random<float>(rng, 3, 3);
        var singular = Tensor<float>.FromArray([1, 2, 3, 2, 4, 6, 0, 1, 5], 3, 3); // row 2 = 2 row 1
        var k = singularFirst ? new KroneckerOperator<float>(singular, regular) : new KroneckerOperator<float>(regular, singular);
        Assert.Equal(float.NegativeInfinity, k.LogDeterminant());
        Assert.Equal((0, float.NegativeInfinity), k.SignAndLogDeterminant());
        var zero = new KroneckerOperator<float>(Tensor<float>.Zeros(2, 2), regular);
        Assert.Equal(float.NegativeInfinity, zero.LogDeterminant());
        Assert.Equal(0f, zero.Trace());
        Assert.Equal(0f, zero.FrobeniusNorm());
    }

    [Fact]
    public void Kronecker_closed_forms_need_square_factors()
    {
        var k = new KroneckerOperator<double>(Tensor<double>.Zeros(2, 3), Tensor<double>.Zeros(3, 2)); // 6 x 6, factors not square
        var e = Assert.Throws<InvalidOperationException>(() => k.LogDeterminant());
        Assert.Contains("[2, 3]", e.Message);
        Assert.Contains("[3, 2]", e.Message);
        Assert.Throws<InvalidOperationException>(() => k.Trace());
        Assert.Equal(0, k.FrobeniusNorm());
    }

    [Fact]
    public void Kronecker_scaling_and_composition_stay_kronecker()
    {
        var rng = new Random(14);
        var x = OperatorFactories<double>.Kron(rng, 2, 3, 4, 5);
        var y = OperatorFactories<double>.Kron(rng, 3, 3, 5, 5);
        Assert.IsType<KroneckerOperator<double>>(x.Op * y.Op);
        var scaled = Assert.IsType<KroneckerOperator<double>>(-2.0 * y.Op);
        Assert.Equal(-2.0 * ((KroneckerOperator<double>)y.Op).Trace(), scaled.Trace(), 1e-12);
    }

    [Fact]
    public void Kronecker_factor_and_space_errors_name_the_shapes()
    {
        var e = Assert.Throws<ArgumentException>(() => new KroneckerOperator<double>(Tensor<double>.Zeros(3), Tensor<double>.Zeros(2, 2)));
        Assert.Contains("[3]", e.Message);
        e = Assert.Throws<ArgumentException>(() => new KroneckerOperator<double>(Tensor<double>.Zeros(2, 3), Tensor<double>.Zeros(4, 5),
            inputSpace: new Space([3, 4])));
        Assert.Contains("3 * 5 = 15", e.Message);
        Assert.Contains("[[3, 4]]", e.Message);
    }

    // ------------------------------------------------------------------ SubOperator

    [Fact]
    public void SubOperator_matches_slicing_the_dense_matrix_and_applies_the_parent_once()
    {
        var space = new Space([2, 3], [4], [], [5], [2]);
        var rng = new Random(21);
        var (_, m) = Dense.Random<double>(rng, space.Dimension, space.Dimension);
        var parent = new CallbackOperator<double>(m, space, space);
        int[] rows = [4, 1, 0], cols = [3, 2];
        var sub = new SubOperator<double>(parent, rows, cols);
        Assert.Equal(new Space([2], [4], [2, 3]), sub.OutputSpace);
        Assert.Equal(new Space([5], []), sub.InputSpace);
        Assert.Equal([4, 1, 0], sub.OutputBlocks.ToArray());
        Assert.Equal([3, 2], sub.InputBlocks.ToArray());
        var expected = Dense.Select(m, Dense.Indices(space, rows), Dense.Indices(space, cols));

        var (x, xd) = Dense.Random<double>(rng, sub.Columns, 9);
        int before = parent.Products;
        var y = sub.MatMat(x);
        Assert.Equal(1, parent.Products - before);
        Dense.AssertClose(Dense.MatMul(expected, xd), Dense.MatMul(Dense.Abs(expected), Dense.Abs(xd)), Dense.FromTensor(y), 1e-12, "sub MatMat");
        Dense.AssertClose(expected, Dense.Abs(expected), Dense.FromTensor(sub.ToDense()), 1e-12, "sub ToDense");
        Dense.AssertClose(Dense.Transpose(expected), Dense.Abs(Dense.Transpose(expected)), Dense.FromTensor(sub.Transpose().ToDense()), 1e-12,
            "sub transpose");
    }

    [Fact]
    public void SubOperator_of_a_symmetric_operator_is_symmetric_only_on_principal_blocks()
    {
        var space = new Space([2], [3], [1]);
        var (s, _) = OperatorFactories<double>.SpdMatrix(new Random(22), 6);
        var a = new DenseOperator<double>(s, space, space, isPositiveSemiDefinite: true);
        Assert.True(a.Restrict([2, 0], [2, 0]).IsPositiveSemiDefinite);
        Assert.False(a.Restrict([0, 2], [2, 0]).IsSymmetric);
        Assert.False(a.Restrict([1], [0]).IsSymmetric);
    }

    [Fact]
    public void SubOperator_rejects_bad_block_indices()
    {
        var a = new IdentityOperator<double>(new Space([2], [3]));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new SubOperator<double>(a, [2], [0]));
        Assert.Equal("outputBlocks", e.ParamName);
        Assert.Contains("[[2], [3]]", e.Message);
        Assert.Throws<ArgumentException>(() => new SubOperator<double>(a, [0], [1, 1]));
    }

    // ------------------------------------------------------------------ low rank, diagonal, dense

    [Fact]
    public void LowRank_is_symmetric_only_for_U_C_U_transpose_with_symmetric_C()
    {
        var rng = new Random(31);
        var (u, _) = Dense.Random<double>(rng, 5, 2);
        var (c, _) = Dense.Random<double>(rng, 2, 2);
        var (spd, _) = OperatorFactories<double>.SpdMatrix(rng, 2);
        Assert.False(new LowRankOperator<double>(u, c, u).IsSymmetric);           // C not symmetric
        Assert.False(new LowRankOperator<double>(u, spd, u.Clone()).IsSymmetric); // V a different object
        Assert.True(new LowRankOperator<double>(u, spd, u).IsSymmetric);
        Assert.False(new LowRankOperator<double>(u, spd, u).IsPositiveSemiDefinite);
        Assert.True(new LowRankOperator<double>(u, spd, u, isPositiveSemiDefinite: true).IsPositiveSemiDefinite);
        Assert.Throws<ArgumentException>(() => new LowRankOperator<double>(u, c, u, isPositiveSemiDefinite: true));
        var e = Assert.Throws<ArgumentException>(() => new LowRankOperator<double>(u, Tensor<double>.Zeros(3, 3), u));
        Assert.Contains("U [5, 2], C [3, 3], V [5, 2]", e.Message);
    }

    [Fact]
    public void Diagonal_psd_flag_follows_the_entries_and_operators_copy_their_data()
    {
        var d = Tensor<double>.FromArray([1, 0, 2], 3);
        var op = new DiagonalOperator<double>(d);
        Assert.True(op.IsPositiveSemiDefinite);
        d.Span[0] = -5;                                  // the operator copied d
        Assert.Equal([1, 0, 2], op.GetDiagonal().ToArray());
        Assert.False(new DiagonalOperator<double>(Tensor<double>.FromArray([1, -1e-300], 2)).IsPositiveSemiDefinite);
        Assert.False(new DiagonalOperator<double>(Tensor<double>.FromArray([1, double.NaN], 2)).IsPositiveSemiDefinite);

        var m = Tensor<float>.FromArray([1, 2, 3, 4], 2, 2);
        var dense = new DenseOperator<float>(m);
        m.Span[0] = 100;
        Assert.Equal([1f, 2, 3, 4], dense.ToDense().ToArray());
        var e = Assert.Throws<ArgumentException>(() => new DiagonalOperator<double>(Tensor<double>.Zeros(4), new Space([2], [3])));
        Assert.Contains("[[2], [3]]", e.Message);
        Assert.Contains("[4]", e.Message);
    }
}
