using CurvNative.Operators;
using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Operators;

/// <summary>Space checks when composites are built, the flag rules table, and the structured shortcuts.</summary>
public class AlgebraTests
{
    private static DenseOperator<double> RandomDense(int rows, int cols, Space? output = null, Space? input = null, int seed = 1)
        => (DenseOperator<double>)OperatorFactories<double>.DenseCase(new Random(seed), rows, cols, output, input).Op;

    private static DenseOperator<double> Spd(int n, Space? space = null)
        => new(OperatorFactories<double>.SpdMatrix(new Random(n), n).Tensor, space, space, isPositiveSemiDefinite: true);

    [Fact]
    public void Adding_operators_with_different_spaces_names_both_spaces()
    {
        var a = RandomDense(6, 6, new Space([2, 3]), new Space([6]));
        var b = RandomDense(6, 6, new Space([6]), new Space([6]));
        var e = Assert.Throws<ArgumentException>(() => a + b);
        Assert.Contains("add", e.Message);
        Assert.Contains("[[6]] -> [[2, 3]]", e.Message);
        Assert.Contains("[[6]] -> [[6]]", e.Message);
        e = Assert.Throws<ArgumentException>(() => a - b);
        Assert.Contains("subtract", e.Message);
        Assert.Contains("[[2, 3]]", e.Message);
        Assert.Throws<ArgumentException>(() => new IdentityOperator<double>(3) + new IdentityOperator<double>(4));
    }

    [Fact]
    public void Composing_mismatched_operators_names_both_spaces()
    {
        var a = RandomDense(4, 6, null, new Space([2], [4]));
        var b = RandomDense(6, 3, new Space([6]));
        var e = Assert.Throws<ArgumentException>(() => a * b);
        Assert.Contains("input space [[2], [4]]", e.Message);
        Assert.Contains("output space [[6]]", e.Message);
        Assert.Equal("inner", e.ParamName);
        // same dimension, different block structure: still an error
        Assert.Throws<ArgumentException>(() => new IdentityOperator<double>(new Space([2], [4])) * new IdentityOperator<double>(6));
    }

    [Fact]
    public void Symmetric_promise_needs_equal_spaces()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            new DenseOperator<double>(Tensor<double>.Zeros(3, 3), new Space([3]), new Space([1], [2]), isSymmetric: true));
        Assert.Contains("[[1], [2]]", e.Message);
        Assert.Contains("[[3]]", e.Message);
        e = Assert.Throws<ArgumentException>(() => new DenseOperator<double>(Tensor<double>.Zeros(2, 3), isPositiveSemiDefinite: true));
        Assert.Contains("[[3]]", e.Message);
        Assert.Contains("[[2]]", e.Message);
    }

    [Fact]
    public void Dense_space_dimension_errors_name_the_matrix_shape()
    {
        var e = Assert.Throws<ArgumentException>(() => new DenseOperator<double>(Tensor<double>.Zeros(3, 4), new Space([2, 2])));
        Assert.Equal("outputSpace", e.ParamName);
        Assert.Contains("[3, 4]", e.Message);
        Assert.Contains("[[2, 2]]", e.Message);
        e = Assert.Throws<ArgumentException>(() => new DenseOperator<double>(Tensor<double>.Zeros(12)));
        Assert.Contains("[12]", e.Message);
    }

    [Fact]
    public void Flag_rules_table()
    {
        var p = Spd(4);
        var q = Spd(4);
        var n = RandomDense(4, 4);
        Assert.True((p + q).IsPositiveSemiDefinite);
        Assert.True((p + p).IsPositiveSemiDefinite);
        Assert.False((p - q).IsPositiveSemiDefinite);
        Assert.True((p - q).IsSymmetric);
        Assert.False((p + n).IsSymmetric);
        Assert.True((2.5 * p).IsPositiveSemiDefinite);
        Assert.True((0.0 * p).IsPositiveSemiDefinite);
        Assert.False((-2.5 * p).IsPositiveSemiDefinite);
        Assert.True((-2.5 * p).IsSymmetric);
        Assert.False((-p).IsPositiveSemiDefinite);
        Assert.True((-(-p)).IsPositiveSemiDefinite);
        Assert.False((p * q).IsSymmetric);                      // product of two symmetric matrices: no promise
        Assert.True((p * p).IsPositiveSemiDefinite);            // A A with A symmetric
        Assert.True((n.Transpose() * n).IsPositiveSemiDefinite);
        Assert.True((n * n.Transpose()).IsPositiveSemiDefinite);
        Assert.False((n * n).IsSymmetric);
        Assert.False(n.Transpose().IsSymmetric);
        Assert.True(p.Transpose().IsPositiveSemiDefinite);
        Assert.True(new BlockDiagonalOperator<double>(p, new IdentityOperator<double>(2)).IsPositiveSemiDefinite);
        Assert.False(new BlockDiagonalOperator<double>(p, n).IsSymmetric);
        var rect = RandomDense(3, 5);
        Assert.True((rect.Transpose() * rect).IsPositiveSemiDefinite);
        Assert.False((rect.Transpose() * RandomDense(3, 5, seed: 2)).IsSymmetric);
    }

    [Fact]
    public void Structured_shortcuts()
    {
        var a = RandomDense(4, 4);
        var p = Spd(4);
        var i = new IdentityOperator<double>(4);
        var d = new DiagonalOperator<double>(Tensor<double>.FromArray([1, -2, 3, 0.5], 4));
        Assert.Same(p, p.Transpose());
        var cb = new CallbackOperator<double>(new double[2, 3]);
        Assert.Same(cb, cb.Transpose().Transpose());
        Assert.Same(a, a.Scale(1.0));
        Assert.Same(a, i * a);
        Assert.Same(a, a * i);
        Assert.IsType<DiagonalOperator<double>>(d + d);
        Assert.IsType<DiagonalOperator<double>>(d + i);
        Assert.IsType<DiagonalOperator<double>>(i + d);
        Assert.IsType<DiagonalOperator<double>>(3.0 * d);
        Assert.IsType<DiagonalOperator<double>>(d * d);
        Assert.Equal([1, 4, 9, 0.25], ((DiagonalOperator<double>)(d * d)).GetDiagonal().ToArray());
        Assert.Equal([2, -1, 4, 1.5], ((DiagonalOperator<double>)(d + i)).GetDiagonal().ToArray());
        var bd = new BlockDiagonalOperator<double>(a, d);
        Assert.IsType<BlockDiagonalOperator<double>>(bd + bd);
        Assert.IsType<BlockDiagonalOperator<double>>(-bd);
        Assert.IsType<BlockDiagonalOperator<double>>(bd * bd);
    }

    [Fact]
    public void Operators_describe_themselves_with_their_spaces()
    {
        var a = RandomDense(5, 6, null, new Space([3, 2]));
        Assert.Equal("DenseOperator [[5]] <- [[3, 2]]", a.ToString());
        var e = Assert.Throws<ArgumentException>(() => a.MatMat(Tensor<double>.Zeros(5, 1)));
        Assert.StartsWith("DenseOperator [[5]] <- [[3, 2]].MatMat: expected X of shape [6, K]", e.Message);
    }

    [Fact]
    public void An_operator_without_a_transpose_product_says_so_when_applied()
    {
        var op = new NoTransposeOperator();
        var t = op.Transpose();
        var e = Assert.Throws<NotSupportedException>(() => t.MatVec(Tensor<double>.Zeros(2)));
        Assert.Contains("TransposeMatMatCore", e.Message);
    }

    private sealed class NoTransposeOperator() : LinearOperator<double>(Space.Flat(2), Space.Flat(3))
    {
        protected override Tensor<double> MatMatCore(Tensor<double> x) => Tensor<double>.Zeros(2, x.Shape[1]);
    }

    [Fact]
    public void Empty_dimensions_and_nan_propagation()
    {
        var wide = RandomDense(3, 5);
        var (x0, _) = Dense.Random<double>(new Random(1), 5, 0);
        Assert.Equal([3, 0], wide.MatMat(x0).ShapeArray);
        var empty = new DenseOperator<double>(Tensor<double>.Zeros(0, 4));
        Assert.Equal([0, 2], empty.MatMat(Tensor<double>.Zeros(4, 2)).ShapeArray);
        Assert.Equal([4, 0], empty.Transpose().ToDense().ShapeArray);
        var fromNothing = new DenseOperator<double>(Tensor<double>.Zeros(3, 0));
        Assert.Equal(new double[6], fromNothing.MatMat(Tensor<double>.Zeros(0, 2)).ToArray());

        var x = Tensor<double>.Full(1.0, 5, 1);
        x.Span[2] = double.NaN;
        Assert.All(wide.MatMat(x).ToArray(), v => Assert.True(double.IsNaN(v)));
        var d = new DiagonalOperator<double>(Tensor<double>.FromArray([1, 2, 3, 4, 5], 5));
        var y = d.MatVec(x.Reshape(5));
        Assert.True(double.IsNaN(y[2]));
        Assert.Equal(4.0, y[3]);
    }
}
