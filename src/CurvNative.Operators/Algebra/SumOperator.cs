using CurvNative.Kernels;
using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Operators;

/// <summary>Σ_t A_t over terms with equal spaces: (Σ A_t) X = Σ (A_t X). Symmetric if all terms are, PSD if all are.</summary>
internal sealed class SumOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly LinearOperator<T>[] _terms;

    private SumOperator(LinearOperator<T>[] terms)
        : base(terms[0].OutputSpace, terms[0].InputSpace,
               terms.All(t => t.IsSymmetric), terms.All(t => t.IsPositiveSemiDefinite))
        => _terms = terms;

    /// <summary>a + b with nested sums flattened (spaces already checked).</summary>
    public static LinearOperator<T> Create(LinearOperator<T> a, LinearOperator<T> b)
        => new SumOperator<T>([.. Terms(a), .. Terms(b)]);

    private static IEnumerable<LinearOperator<T>> Terms(LinearOperator<T> op)
        => op is SumOperator<T> s ? s._terms : [op];

    public IReadOnlyList<LinearOperator<T>> Summands => _terms;

    protected override Tensor<T> MatMatCore(Tensor<T> x)
    {
        var y = _terms[0].Apply(x);
        for (int t = 1; t < _terms.Length; t++) DenseKernels.AddInPlace(y.Span, _terms[t].Apply(x).Span);
        return y;
    }

    protected override LinearOperator<T> TransposeCore()
    {
        var result = _terms[0].Transpose();
        for (int t = 1; t < _terms.Length; t++) result = result.Add(_terms[t].Transpose());
        return result;
    }

    protected override Tensor<T> ToDenseCore()
    {
        var d = _terms[0].ToDense();
        for (int t = 1; t < _terms.Length; t++) DenseKernels.AddInPlace(d.Span, _terms[t].ToDense().Span);
        return d;
    }
}
